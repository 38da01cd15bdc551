/**
 * The key/value cache between forward passes: one key and one value tensor per layer, each
 * [kv_heads, length, head_dim] (batch 1), keys after RoPE. This class is the single typed accessor
 * for cache tensors, so nothing else renames `present.*` to `past_key_values.*` or indexes raw
 * buffers. Steering edits the cache through `addAtPosition`.
 */

export interface KvLayer {
  key: Float32Array;
  value: Float32Array;
}

export class KvCache {
  constructor(
    readonly numKvHeads: number,
    readonly headDim: number,
    /** Number of cached positions. */
    readonly length: number,
    readonly layers: KvLayer[],
  ) {}

  static empty(numLayers: number, numKvHeads: number, headDim: number): KvCache {
    return new KvCache(numKvHeads, headDim, 0, Array.from({ length: numLayers }, () => ({ key: new Float32Array(0), value: new Float32Array(0) })));
  }

  get numLayers(): number {
    return this.layers.length;
  }

  /** The [kv_heads, head_dim] slice at `position` of one layer's keys or values (a copy). */
  read(layer: number, which: 'key' | 'value', position: number): Float32Array {
    this.checkPosition(position);
    const src = this.layers[layer][which];
    const out = new Float32Array(this.numKvHeads * this.headDim);
    for (let h = 0; h < this.numKvHeads; h++) {
      const o = (h * this.length + position) * this.headDim;
      out.set(src.subarray(o, o + this.headDim), h * this.headDim);
    }
    return out;
  }

  /** Adds `coeff · delta` ([kv_heads·head_dim]) to one layer's keys or values at `position`, in place. */
  addAtPosition(layer: number, which: 'key' | 'value', position: number, delta: Float32Array, coeff: number): void {
    this.checkPosition(position);
    if (coeff === 0) return;
    const dst = this.layers[layer][which];
    const hd = this.headDim;
    for (let h = 0; h < this.numKvHeads; h++) {
      const o = (h * this.length + position) * hd;
      for (let d = 0; d < hd; d++) dst[o + d] += coeff * delta[h * hd + d];
    }
  }

  /** A deep copy (steering tests compare an edited cache with the original). */
  clone(): KvCache {
    return new KvCache(this.numKvHeads, this.headDim, this.length, this.layers.map((l) => ({ key: l.key.slice(), value: l.value.slice() })));
  }

  private checkPosition(position: number): void {
    if (!Number.isInteger(position) || position < 0 || position >= this.length) {
      throw new RangeError(`cache position ${position} is outside 0..${this.length - 1}`);
    }
  }
}
