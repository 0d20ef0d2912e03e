// GET URL with Node's built-in fetch. It reads no proxy variable unless NODE_USE_ENV_PROXY=1
// (Node >= 24.0), then HTTPS_PROXY/HTTP_PROXY; the extra trusted CA from
// NODE_EXTRA_CA_CERTS (read by Node itself at start-up).
//
// usage: node fetch_get.mjs URL IDEMPOTENCY_KEY   prints "status <code>" then the body.
const [url, key] = process.argv.slice(2);
const response = await fetch(url, { headers: { 'Idempotency-Key': key } });
console.log(`status ${response.status}`);
console.log(await response.text());
