import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One HTTP(S) notification as SNS posts it: the envelope, and the headers SNS sets. */
export interface Delivery {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly envelope: { Type: string; MessageId: string; TopicArn: string; Subject?: string; Message: string };
}

export interface ChatEndpoint {
  /** `https://127.0.0.1:<port>/chat`: what a test subscribes with protocol https. */
  readonly url: string;
  /** Resolves to the deliveries received so far once one satisfies `matches`; rejects after `timeoutMs`. */
  waitFor(matches: (delivery: Delivery) => boolean, timeoutMs?: number): Promise<Delivery[]>;
  close(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1, made by openssl for this run only (no key is kept in the repository). */
function loopbackCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'chat-endpoint-'));
  try {
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
        ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      ],
      { stdio: 'ignore' },
    );
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Plays the endpoint Amazon Q Developer in chat applications subscribes to a topic: an HTTPS server on loopback that
 * keeps every notification SNS posts to it.
 */
export async function openChatEndpoint(): Promise<ChatEndpoint> {
  const deliveries: Delivery[] = [];
  const server: Server = createServer(loopbackCertificate(), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      deliveries.push({
        headers: req.headers,
        envelope: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Delivery['envelope'],
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/chat`,
    async waitFor(matches, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!deliveries.some(matches)) {
        if (Date.now() > deadline) {
          throw new Error(`no matching delivery within ${timeoutMs} ms; received ${deliveries.length}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return [...deliveries];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
