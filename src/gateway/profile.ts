/**
 * `/debug/pprof/*` when `RECEPTOR_CONTROLLER_ENABLE_PROFILE` is set: Node's equivalents of
 * the Go gateway's pprof profiles. They are V8 formats (open them in Chrome DevTools'
 * Memory and Performance panels), not pprof's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import { pipeline } from 'node:stream/promises';
import { getHeapSnapshot } from 'node:v8';
import { HttpError } from './body.ts';

const MAX_CPU_SECONDS = 60;

export async function handleProfileRequest(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const name = path.replace(/^\/debug\/pprof\/?/, '');
  if (name === '') {
    const index = JSON.stringify({
      profiles: {
        heap: '/debug/pprof/heap (a .heapsnapshot)',
        profile: '/debug/pprof/profile?seconds=N (a .cpuprofile, default 10 s)',
      },
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(index);
    return;
  }
  if (name === 'heap' || name === 'allocs') {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="gateway.heapsnapshot"' });
    await pipeline(getHeapSnapshot(), res);
    return;
  }
  if (name === 'profile') {
    const raw = new URL(req.url ?? '/', 'http://gateway').searchParams.get('seconds') ?? '10';
    const seconds = Number(raw);
    if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_CPU_SECONDS) {
      throw new HttpError(400, `"seconds" must be a number from 0 to ${MAX_CPU_SECONDS}`);
    }
    const session = new Session();
    session.connect();
    try {
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const { profile } = await session.post('Profiler.stop');
      const text = JSON.stringify(profile);
      res.writeHead(200, { 'content-type': 'application/json', 'content-disposition': 'attachment; filename="gateway.cpuprofile"' });
      res.end(text);
    } finally {
      session.disconnect();
    }
    return;
  }
  throw new HttpError(404, `No such profile: ${name}`);
}
