/**
 * Sampling's defaults and limits, shared by the settings, the CLI's flags and the language models'
 * modelOptions. A module of its own with no imports: the editor layer reads it at activation.
 */

/** Temperature, top-p, top-k and seed when sampling is asked for without them. */
export const SAMPLING_DEFAULTS = { temperature: 0.6, topP: 0.9, topK: 50, seed: 0 } as const;

/** The largest seed: the generator keeps 32 bits of state, so 2^32 would sample as 0 does. */
export const MAX_SEED = 0xffffffff;
