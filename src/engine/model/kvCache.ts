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
 *
 * With the model's session in a worker thread, caches live there (`moveOut`, `elsewhere`): a cache
 * here is then a handle whose contents come back, by transfer, when they are first used here.
 */

export interface KvLayer {
  key: Float32Array;
  value: Float32Array;
}

/** Zero-length keys and values per layer: an empty cache's, or a handle's whose contents are elsewhere. */
function placeholders(numLayers: number): KvLayer[] {
  return Array.from({ length: numLayers }, () => ({ key: new Float32Array(0), value: new Float32Array(0) }));
}

/** Spare positions allocated beyond the current length when storage has to grow. */
const MIN_HEADROOM = 256;

/** Where one tensor of a loan lies: buffer index, byte offset, number of floats. */
export interface KvPlace {
  i: number;
  offset: number;
  length: number;
}

/**
 * A cache's contents as plain, transferable data: its buffers (each once) and where each layer's
 * keys and values (and spare storage) lie in them.
 */
export interface KvCacheLoan {
  numKvHeads: number;
  headDim: number;
  length: number;
  capacity: number;
  buffers: ArrayBuffer[];
  views: { key: KvPlace; value: KvPlace }[];
  storage?: { key: KvPlace; value: KvPlace }[];
}

/** The other thread a cache's contents live in, and how to bring them back (synchronously). */
export interface KvCacheHome {
  owner: object;
  id: number;
  /** The contents, or 'stale' when a later forward pass there grew them in place. */
  reclaim(): KvCacheLoan | 'stale';
  /** Frees the contents there. */
  drop(): void;
}

export class KvCache {
  private stale = false;
  private freed = false;
  /** Set while the contents live in another thread (ONNX Runtime's worker): see `moveOut`. */
  private home?: KvCacheHome;

  constructor(
    readonly numKvHeads: number,
    readonly headDim: number,
    /** Number of cached positions. */
    readonly length: number,
    private views: KvLayer[],
    /** Backing storage per layer (views are its dense prefix); capacity in positions. */
    private storage?: { key: Float32Array; value: Float32Array }[],
    private capacity = length,
  ) {}

  /** A cache whose contents are `loan`'s buffers (received from another thread). */
  static fromLoan(loan: KvCacheLoan): KvCache {
    const c = new KvCache(loan.numKvHeads, loan.headDim, loan.length, []);
    c.adopt(loan);
    return c;
  }

  /** A cache of `length` positions whose contents live in `home` (made there by a forward pass). */
  static elsewhere(numLayers: number, numKvHeads: number, headDim: number, length: number, home: KvCacheHome): KvCache {
    const c = new KvCache(numKvHeads, headDim, length, placeholders(numLayers));
    c.home = home;
    return c;
  }

  static empty(numLayers: number, numKvHeads: number, headDim: number): KvCache {
    return new KvCache(numKvHeads, headDim, 0, placeholders(numLayers));
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

  /** Whether a later forward pass grew this cache's storage in place (so it can no longer be used). */
  isStale(): boolean {
    return this.stale;
  }

  /** The other thread this cache's contents live in now, if they are away. */
  get residence(): { owner: object; id: number } | undefined {
    return this.home && { owner: this.home.owner, id: this.home.id };
  }

  /**
   * Hands the contents over for transfer to another thread (a forward pass in ONNX Runtime's
   * worker), where they stay: the worker grows them there step after step, so no step moves the
   * whole cache (transferring a few hundred MB of buffers every token made V8 collect garbage on
   * every message, doubling the decode time). The first use of this cache here afterwards brings
   * the contents back through `home`.
   */
  moveOut(home: KvCacheHome): KvCacheLoan {
    this.checkFresh();
    const buffers: ArrayBuffer[] = [];
    const place = (a: Float32Array): KvPlace => {
      if (!(a.buffer instanceof ArrayBuffer)) throw new Error('a KV cache on shared memory cannot be moved to another thread');
      let i = buffers.indexOf(a.buffer);
      if (i < 0) i = buffers.push(a.buffer) - 1;
      return { i, offset: a.byteOffset, length: a.length };
    };
    const layout = (layers: readonly KvLayer[]) => layers.map((l) => ({ key: place(l.key), value: place(l.value) }));
    const loan: KvCacheLoan = { numKvHeads: this.numKvHeads, headDim: this.headDim, length: this.length, capacity: this.capacity, buffers, views: layout(this.views) };
    if (this.storage) loan.storage = layout(this.storage);
    this.views = placeholders(this.views.length);
    this.storage = undefined;
    this.home = home;
    return loan;
  }

  /**
   * Gives up the contents now. The generation loop frees each cache it is done with: one living in
   * a worker is freed there at once, not whenever the garbage collector gets to this small handle
   * (until then the worker would hold every old cache's memory). Using it afterwards throws.
   */
  free(): void {
    const home = this.home;
    this.home = undefined;
    this.freed = true;
    this.views = placeholders(this.views.length);
    this.storage = undefined;
    home?.drop();
  }

  /** Undoes `moveOut` when the loan never left this thread (its message could not be sent). */
  moveBack(loan: KvCacheLoan): void {
    this.home = undefined;
    this.adopt(loan);
  }

  /** Takes `loan`'s buffers as this cache's contents. */
  private adopt(loan: KvCacheLoan): void {
    if (loan.length !== this.length || loan.numKvHeads !== this.numKvHeads || loan.headDim !== this.headDim) {
      throw new RangeError(`a KV cache of ${this.length} positions got back one of ${loan.length}`);
    }
    const at = (p: KvPlace) => new Float32Array(loan.buffers[p.i], p.offset, p.length);
    const layers = (places: { key: KvPlace; value: KvPlace }[]) => places.map((l) => ({ key: at(l.key), value: at(l.value) }));
    this.views = layers(loan.views);
    this.storage = loan.storage && layers(loan.storage);
    this.capacity = loan.capacity;
  }

  private checkFresh(): void {
    if (this.freed) throw new Error('this KV cache was freed');
    if (this.home && !this.stale) {
      const back = this.home.reclaim();
      this.home = undefined;
      if (back === 'stale') this.stale = true;
      else this.adopt(back);
    }
    if (this.stale) throw new Error('this KV cache was extended in place by a later forward pass and is no longer valid (clone it first to keep it)');
  }

  private checkPosition(position: number): void {
    this.checkFresh();
    if (!Number.isInteger(position) || position < 0 || position >= this.length) {
      throw new RangeError(`cache position ${position} is outside 0..${this.length - 1}`);
    }
  }
}
