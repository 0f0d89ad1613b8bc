// An actor on the caller's thread: messages are handled in order, one at a time, with no copying.
import { EtcdError } from '../core/errors.js';
import { maxMailboxMessages, type Actor, type ActorRef } from './actor.js';
import { Mailbox } from './mailbox.js';

export class MainThreadActor<Req, Res> implements ActorRef<Req, Res> {
  private readonly mailbox = new Mailbox<Req, Res>(maxMailboxMessages);
  private running = false;
  private runScheduled = false;
  private stopped = false;

  constructor(private readonly actor: Actor<Req, Res>) {}

  ask(msg: Req): Promise<Res> {
    if (this.stopped) return Promise.reject(new EtcdError('stopped'));
    return new Promise<Res>((resolve, reject) => {
      const letter = { msg, resolve, reject };
      // A free slot takes the letter now (every read and apply of a store that is keeping up);
      // either way the actor starts on a later microtask, never inside the asker's call.
      if (this.mailbox.tryPut(letter)) this.scheduleRun();
      else void this.mailbox.put(letter).then(this.startRun);
    });
  }

  private scheduleRun(): void {
    if (this.running || this.runScheduled) return;
    this.runScheduled = true;
    queueMicrotask(this.startRun);
  }

  private readonly startRun = (): void => {
    this.runScheduled = false;
    if (!this.running) void this.run();
  };

  async stop(): Promise<void> {
    this.stopped = true;
    this.mailbox.drain(new EtcdError('stopped'));
  }

  private async run(): Promise<void> {
    this.running = true;
    for (let letter = this.mailbox.take(); letter !== undefined; letter = this.mailbox.take()) {
      try {
        letter.resolve(await this.actor.receive(letter.msg));
      } catch (e) {
        letter.reject(e);
      }
    }
    this.running = false;
  }
}
