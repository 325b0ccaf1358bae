import { Agent, request } from 'node:http';
import { type HttpRequest, HttpResponse } from '@smithy/core/protocols';

/**
 * An SDK request handler over HTTP/1.1, for clients whose default handler speaks HTTP/2 (the Kinesis client's, for
 * SubscribeToShard): the local front is an HTTP/1.1 server on loopback, which an HTTP/2 client cannot talk to.
 * `new KinesisClient({ ...local.clientConfig, requestHandler: new Http1Handler() })`.
 */
export class Http1Handler {
  private readonly agent = new Agent({ keepAlive: true });

  handle(req: HttpRequest): Promise<{ response: HttpResponse }> {
    const query = Object.entries(req.query ?? {}).flatMap(([name, value]) =>
      (Array.isArray(value) ? value : [value ?? '']).map((v) => `${encodeURIComponent(name)}=${encodeURIComponent(v)}`),
    );
    const path = `${req.path}${query.length > 0 ? `?${query.join('&')}` : ''}`;
    return new Promise((resolve, reject) => {
      const sent = request(
        { host: req.hostname, port: req.port, method: req.method, path, headers: req.headers, agent: this.agent },
        (res) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({ response: new HttpResponse({ statusCode: res.statusCode ?? 0, headers, body: res }) });
        },
      );
      sent.on('error', reject);
      sent.end(req.body as string | Uint8Array | undefined);
    });
  }

  updateHttpClientConfig(): void {}

  httpHandlerConfigs(): Record<string, never> {
    return {};
  }

  destroy(): void {
    this.agent.destroy();
  }
}
