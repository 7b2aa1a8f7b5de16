// Sends one command and waits for its reply the way RabbitMQ's RPC tutorial does in JavaScript: consume the
// direct reply-to pseudo-queue without acknowledgements, publish with reply_to and a correlation_id, and take the
// reply whose correlation_id matches.
//
//   node rpc.mjs <amqp url> <queue> <correlation id> <command JSON> [timeout ms]
//
// Prints the reply as JSON (its properties, and its body in base64 so that it can be compared byte for byte);
// exits 1 when no reply comes in time.
import amqp from 'amqplib';

const [url, queue, correlationId, command, timeout = '15000'] = process.argv.slice(2);
const connection = await amqp.connect(url);
const channel = await connection.createChannel();

const reply = new Promise((resolve) => {
  channel.consume('amq.rabbitmq.reply-to', (message) => {
    if (message.properties.correlationId === correlationId) resolve(message);
  }, { noAck: true });
});
channel.sendToQueue(queue, Buffer.from(command), {
  correlationId, replyTo: 'amq.rabbitmq.reply-to', contentType: 'application/json', persistent: true,
  messageId: crypto.randomUUID(),
});

const timer = new Promise((resolve) => setTimeout(resolve, Number(timeout), null));
const message = await Promise.race([reply, timer]);
if (message) {
  const { correlationId: id, messageId, contentType, type } = message.properties;
  console.log(JSON.stringify({ correlationId: id, messageId, contentType, type, body: message.content.toString('base64') }));
}
await connection.close();
process.exit(message ? 0 : 1);
