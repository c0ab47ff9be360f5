// Live updates: one long poll on /aieng/api/changes shared by every listener, with backoff on errors.
import { Signal, ISignal } from '@lumino/signaling';
import { requestAPI } from './handler';
import { Changes } from './models';

export class ChangeWatcher {
  private _token: string | null = null;
  private _running = false;
  private _users = 0;
  private _changed = new Signal<this, void>(this);

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Start watching (reference counted); `release()` stops when nobody watches. */
  acquire(): void {
    this._users += 1;
    if (!this._running) {
      this._running = true;
      void this._loop();
    }
  }

  release(): void {
    this._users = Math.max(0, this._users - 1);
    if (this._users === 0) {
      this._running = false;
    }
  }

  private async _loop(): Promise<void> {
    let backoff = 1000;
    while (this._running) {
      try {
        const since = this._token ?? '';
        const answer = await requestAPI<Changes>(`changes?timeout=25&since=${encodeURIComponent(since)}`);
        const first = this._token === null;
        this._token = answer.token;
        backoff = 1000;
        if (answer.changed && !first && this._running) {
          this._changed.emit();
        }
      } catch {
        // server gone or restarting: wait longer each time, up to 30 s
        await new Promise(resolve => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 30000);
      }
    }
  }
}

export const watcher = new ChangeWatcher();
