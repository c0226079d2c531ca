/**
 * Claims-based security (`$cbs`), as core-amqp's CbsClient speaks it: every `put-token` is
 * granted. The emulator checks no signature; links to unknown entities are refused at attach.
 */
import type { EventContext, Message } from 'rhea';
import { reply } from './amqpLinks';

export function handleCbsRequest(context: EventContext, request: Message): void {
  const operation = request.application_properties?.operation as string | undefined;
  if (operation !== 'put-token') {
    reply(context, request, { status: 400, condition: 'amqp:not-implemented', description: `unsupported $cbs operation ${operation}` });
    return;
  }
  reply(context, request, { status: 202, description: 'Accepted' });
}
