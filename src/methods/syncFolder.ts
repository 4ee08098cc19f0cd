import { open } from 'node:fs/promises';

/** Makes the names created, renamed or removed in `folder` durable against a power loss. */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
