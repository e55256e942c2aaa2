/** Something with a due time that a TimerQueue can fire. */
export interface Timed {
  /** Due time, in `Date.now()` milliseconds. */
  dueAt: number;
  /** Position in the heap; -1 when not queued. Owned by the queue. */
  heapIndex: number;
  fire(): void;
}

/**
 * Many deadlines, one timer. An indexed binary min-heap keeps entries ordered by due
 * time, so adding and removing are O(log n) and the single `setTimeout` is always armed
 * for the earliest entry. This is what lets every call carry a deadline without a timer
 * of its own.
 */
export class TimerQueue {
  private readonly heap: Timed[] = [];
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.armedFor = Infinity;
    this.runDue();
  };

  get size(): number {
    return this.heap.length;
  }

  add(entry: Timed): void {
    entry.heapIndex = this.heap.length;
    this.heap.push(entry);
    this.up(entry.heapIndex);
    if (entry.dueAt < this.armedFor) this.arm(entry.dueAt);
  }

  remove(entry: Timed): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    const last = this.heap.pop()!;
    entry.heapIndex = -1;
    if (last !== entry) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
    // The armed timer is left alone even when the heap empties: it fires, finds nothing
    // due and re-arms for what is queued by then. Sequential calls with deadlines thus
    // share one timer instead of creating and clearing one each.
  }

  /** Forget every entry without firing it. */
  clear(): void {
    for (const e of this.heap) e.heapIndex = -1;
    this.heap.length = 0;
    this.disarm();
  }

  private runDue(): void {
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0]!.dueAt <= now) {
      const entry = this.heap[0]!;
      this.remove(entry);
      entry.fire();
    }
    if (this.heap.length > 0) this.arm(this.heap[0]!.dueAt);
  }

  private arm(dueAt: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = dueAt;
    // setTimeout cannot wait longer than 2^31-1 ms; a far deadline just re-arms.
    this.timer = setTimeout(this.onTimer, Math.min(0x7fff_ffff, Math.max(0, dueAt - Date.now())));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private up(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parentIndex = (i - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.dueAt <= entry.dueAt) break;
      heap[i] = parent;
      parent.heapIndex = i;
      i = parentIndex;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i]!;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.dueAt < heap[child]!.dueAt) child++;
      const c = heap[child]!;
      if (c.dueAt >= entry.dueAt) break;
      heap[i] = c;
      c.heapIndex = i;
      i = child;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }
}
