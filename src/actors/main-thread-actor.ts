// An actor on the caller's thread: messages are handled in order, one at a time, with no copying.
import { EtcdError } from '../core/errors.js';
import { maxMailboxMessages, type Actor, type ActorRef } from './actor.js';
import { Mailbox } from './mailbox.js';

export class MainThreadActor<Req, Res> implements ActorRef<Req, Res> {
  private readonly mailbox = new Mailbox<Req, Res>(maxMailboxMessages);
  private running = false;
  private stopped = false;

  constructor(private readonly actor: Actor<Req, Res>) {}

  async ask(msg: Req): Promise<Res> {
    if (this.stopped) throw new EtcdError('stopped');
    return new Promise<Res>((resolve, reject) => {
      void this.mailbox.put({ msg, resolve, reject }).then(() => {
        if (!this.running) void this.run();
      });
    });
  }

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
