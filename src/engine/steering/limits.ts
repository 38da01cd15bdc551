/** Limits on steering strengths, in a module with no imports so light callers can use them. */

/** Largest |c| accepted: far beyond any useful strength, small enough to catch typos. */
export const MAX_COEFFICIENT = 100;
