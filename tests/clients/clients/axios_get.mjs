// GET URL with axios (current): the proxy from https_proxy/HTTPS_PROXY read by axios itself
// (proxy-from-env); an https: URL goes through a CONNECT tunnel. The extra trusted CA from
// NODE_EXTRA_CA_CERTS (read by Node itself at start-up).
//
// usage: node axios_get.mjs URL IDEMPOTENCY_KEY   prints "status <code>" then the body.
import axios from 'axios';

const [url, key] = process.argv.slice(2);
const response = await axios.get(url, {
  headers: { 'Idempotency-Key': key },
  responseType: 'text',
  timeout: 30000,
});
console.log(`status ${response.status}`);
console.log(response.data);
