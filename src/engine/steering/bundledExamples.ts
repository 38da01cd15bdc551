/**
 * kvsteer's own reasoning examples (`vectors/datasets/`, shipped in the .vsix too) and the recipe
 * the shipped SmolLM2 vector was extracted with, so the CLI and the editor offer the same one when
 * a model has no vector.
 */
export const BUNDLED_EXAMPLES = { file: 'reasoning-v1.jsonl', demos: 10 } as const;
