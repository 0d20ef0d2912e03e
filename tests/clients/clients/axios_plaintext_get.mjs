// GET an https: URL with axios 1.16.0 and its `proxy:` option: this axios writes the request in
// plaintext to the proxy, absolute-form (`GET https://host:port/path HTTP/1.1`), and the proxy
// must originate TLS itself. No CA setting: the client speaks no TLS at all.
//
// usage: node axios_plaintext_get.mjs URL IDEMPOTENCY_KEY PROXY_HOST PROXY_PORT
import axios from 'axios-plaintext-proxy';

const [url, key, host, port] = process.argv.slice(2);
const response = await axios.get(url, {
  headers: { 'Idempotency-Key': key },
  proxy: { protocol: 'http', host, port: Number(port) },
  responseType: 'text',
  timeout: 30000,
});
console.log(`status ${response.status}`);
console.log(response.data);
