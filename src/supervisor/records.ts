// The core's map of service records (V: core/types.ts's ServiceRecord), shared between the states of successive steps.
//
// Every step starts from the previous state and must not change it (the core is pure).
// Copying a Map of every service per step made each event cost O(services): with 1,000
// services a copy is a few hundred µs, and starting or stopping them all is thousands of
// steps. A step changes a handful of records, so a state is a shared, never-written base
// plus the records this state changed over it; a draft copies only those, and folds them
// into a new base once they have piled up. Adding, removing or reordering services (a
// reload) makes the draft's own flat copy, as before.
/** Changed records a state carries over its base before a draft folds them in. */
const FOLD_AFTER = 32;

export class Records<V> implements ReadonlyMap<string, V> {
  private constructor(
    /** Shared with other states unless `owned`; read-only then. */
    private base: Map<string, V>,
    /** Records changed over `base` (only for names in it); empty while `owned`. */
    private changes: Map<string, V>,
    /** `base` belongs to this draft alone: written in place. */
    private owned: boolean,
  ) {}

  /** A state's records from a plain map (copied). */
  static of<V>(records: ReadonlyMap<string, V>): Records<V> {
    return new Records(new Map(records), new Map(), false);
  }

  /** A draft over `records`, for one step; `done()` ends it. */
  static draft<V>(records: ReadonlyMap<string, V>): Records<V> {
    if (!(records instanceof Records)) return new Records(new Map(records), new Map(), true);
    if (records.changes.size > FOLD_AFTER) return new Records(records.flat(), new Map(), true);
    return new Records(records.base, new Map(records.changes), false);
  }

  /** The draft becomes a state: nothing writes to it any more. */
  done(): ReadonlyMap<string, V> {
    this.owned = false;
    return this;
  }

  get size(): number {
    return this.base.size;
  }

  get(name: string): V | undefined {
    return this.changes.get(name) ?? this.base.get(name);
  }

  has(name: string): boolean {
    return this.base.has(name);
  }

  set(name: string, record: V): this {
    if (!this.owned && this.base.has(name)) {
      this.changes.set(name, record);
      return this;
    }
    this.own();
    this.base.set(name, record);
    return this;
  }

  delete(name: string): boolean {
    this.own();
    return this.base.delete(name);
  }

  clear(): void {
    this.base = new Map();
    this.changes = new Map();
    this.owned = true;
  }

  keys(): MapIterator<string> {
    return this.base.keys();
  }

  entries(): MapIterator<[string, V]> {
    if (this.changes.size === 0) return this.base.entries();
    return this.merged();
  }

  values(): MapIterator<V> {
    if (this.changes.size === 0) return this.base.values();
    return this.mergedValues();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (record: V, name: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [name, record] of this.entries()) callback.call(thisArg, record, name, this);
  }

  private *merged(): MapIterator<[string, V]> {
    const changes = this.changes;
    for (const [name, record] of this.base) yield [name, changes.get(name) ?? record];
  }

  private *mergedValues(): MapIterator<V> {
    const changes = this.changes;
    for (const [name, record] of this.base) yield changes.get(name) ?? record;
  }

  /** Writes go to a base of this draft's own from now on. */
  private own(): void {
    if (this.owned) return;
    this.base = this.flat();
    this.changes = new Map();
    this.owned = true;
  }

  private flat(): Map<string, V> {
    const out = new Map(this.base);
    for (const [name, record] of this.changes) out.set(name, record);
    return out;
  }
}
