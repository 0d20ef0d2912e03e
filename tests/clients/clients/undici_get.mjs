// GET URL with undici's fetch through EnvHttpProxyAgent: the proxy from https_proxy/HTTPS_PROXY
// (https: URLs) or http_proxy/HTTP_PROXY (http: URLs), the extra trusted CA from
// NODE_EXTRA_CA_CERTS (read by Node itself at start-up). An http: URL is sent inside a
// `CONNECT host:port` tunnel (ProxyAgent's default, proxyTunnel: true).
//
// usage: node undici_get.mjs URL IDEMPOTENCY_KEY   prints "status <code>" then the body.
import { EnvHttpProxyAgent, fetch } from 'undici';

const [url, key] = process.argv.slice(2);
const dispatcher = new EnvHttpProxyAgent();
const response = await fetch(url, { dispatcher, headers: { 'Idempotency-Key': key } });
console.log(`status ${response.status}`);
console.log(await response.text());
await dispatcher.close();
