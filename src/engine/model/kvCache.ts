/**
 * The key/value cache between forward passes: one key and one value tensor per layer, each
 * [kv_heads, length, head_dim] (batch 1), keys after RoPE. This class is the single typed accessor
 * for cache tensors, so nothing else renames `present.*` to `past_key_values.*` or indexes raw
 * buffers. Steering edits the cache through `addAtPosition`.
 *
 * Decoding appends one position per step. `appended` grows the cache inside storage with spare
 * capacity (moving each head's block up in place) instead of taking a fresh copy of the whole
 * cache from ONNX Runtime every token, whose cost grows with the context. The cache it was grown
 * from shares that storage and becomes stale: using it again throws instead of reading moved data.
 */

export interface KvLayer {
  key: Float32Array;
  value: Float32Array;
}

/** Spare positions allocated beyond the current length when storage has to grow. */
const MIN_HEADROOM = 256;

export class KvCache {
  private stale = false;

  constructor(
    readonly numKvHeads: number,
    readonly headDim: number,
    /** Number of cached positions. */
    readonly length: number,
    private readonly views: KvLayer[],
    /** Backing storage per layer (views are its dense prefix); capacity in positions. */
    private readonly storage?: { key: Float32Array; value: Float32Array }[],
    private readonly capacity = length,
  ) {}

  static empty(numLayers: number, numKvHeads: number, headDim: number): KvCache {
    return new KvCache(numKvHeads, headDim, 0, Array.from({ length: numLayers }, () => ({ key: new Float32Array(0), value: new Float32Array(0) })));
  }

  get numLayers(): number {
    return this.views.length;
  }

  /** Bytes of the cached keys and values (not of spare capacity). */
  get byteLength(): number {
    return this.numLayers * 2 * this.numKvHeads * this.length * this.headDim * Float32Array.BYTES_PER_ELEMENT;
  }

  /** Per layer, dense [kv_heads, length, head_dim] keys and values (views: edits go into the cache). */
  get layers(): readonly KvLayer[] {
    this.checkFresh();
    return this.views;
  }

  /**
   * The cache with `n` more positions: `added[l]` holds layer l's new keys and values as
   * [kv_heads, n, head_dim]. Reuses this cache's storage when it has room, which makes this cache
   * stale.
   */
  appended(added: readonly KvLayer[], n: number): KvCache {
    this.checkFresh();
    if (added.length !== this.numLayers) throw new RangeError(`expected ${this.numLayers} layers, got ${added.length}`);
    const hd = this.headDim, kv = this.numKvHeads, len = this.length, total = len + n;
    const reuse = this.storage !== undefined && total <= this.capacity;
    // A first fill (a prefill, often never decoded from, as in extraction) gets fixed headroom;
    // later growth doubles, so long answers reallocate only a few times.
    const capacity = reuse ? this.capacity : total + (this.storage ? Math.max(MIN_HEADROOM, total) : MIN_HEADROOM);
    const storage = reuse ? this.storage! : added.map(() => ({ key: new Float32Array(kv * capacity * hd), value: new Float32Array(kv * capacity * hd) }));
    const views: KvLayer[] = [];
    added.forEach((add, l) => {
      const out: Partial<KvLayer> = {};
      for (const which of ['key', 'value'] as const) {
        const dst = storage[l][which];
        const src = this.views[l][which];
        const fresh = add[which];
        if (fresh.length !== kv * n * hd) throw new RangeError(`layer ${l} ${which}: expected ${kv * n * hd} values, got ${fresh.length}`);
        // Heads from the last down, so a block never overwrites one not yet moved.
        for (let h = kv - 1; h >= 0; h--) {
          if (reuse) {
            if (h > 0) dst.copyWithin(h * total * hd, h * len * hd, (h + 1) * len * hd);
          } else {
            dst.set(src.subarray(h * len * hd, (h + 1) * len * hd), h * total * hd);
          }
          dst.set(fresh.subarray(h * n * hd, (h + 1) * n * hd), (h * total + len) * hd);
        }
        out[which] = dst.subarray(0, kv * total * hd);
      }
      views.push(out as KvLayer);
    });
    if (reuse) this.stale = true;
    return new KvCache(kv, hd, total, views, storage, capacity);
  }

  /** The [kv_heads, head_dim] slice at `position` of one layer's keys or values (a copy). */
  read(layer: number, which: 'key' | 'value', position: number): Float32Array {
    this.checkPosition(position);
    const src = this.views[layer][which];
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
    // A short delta would add undefined (NaN) to the cache and silently spoil every later token.
    if (delta.length !== this.numKvHeads * this.headDim) throw new RangeError(`a ${which} delta of layer ${layer} has ${delta.length} numbers; this cache needs ${this.numKvHeads * this.headDim}`);
    if (coeff === 0) return;
    const dst = this.views[layer][which];
    const hd = this.headDim;
    for (let h = 0; h < this.numKvHeads; h++) {
      const o = (h * this.length + position) * hd;
      for (let d = 0; d < hd; d++) dst[o + d] += coeff * delta[h * hd + d];
    }
  }

  /** A deep copy with its own storage (steering tests compare an edited cache with the original). */
  clone(): KvCache {
    this.checkFresh();
    return new KvCache(this.numKvHeads, this.headDim, this.length, this.views.map((l) => ({ key: l.key.slice(), value: l.value.slice() })));
  }

  private checkFresh(): void {
    if (this.stale) throw new Error('this KV cache was extended in place by a later forward pass and is no longer valid (clone it first to keep it)');
  }

  private checkPosition(position: number): void {
    this.checkFresh();
    if (!Number.isInteger(position) || position < 0 || position >= this.length) {
      throw new RangeError(`cache position ${position} is outside 0..${this.length - 1}`);
    }
  }
}
