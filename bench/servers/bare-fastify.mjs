// Baseline for bench/publish: a bare Fastify route that parses the JSON body and answers
// 202 with a small JSON object, doing no other work.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/v1/events', async (_request, reply) => reply.code(202).send({ id: 'evt_0', cursor: 'c' }));
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`${JSON.stringify({ ready: url })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
