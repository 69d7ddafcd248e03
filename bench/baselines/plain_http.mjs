// Baseline for fnwire's Node figures: a plain node:http server answering GET /...?name=X with
// "Hello, X!" (the same work as the hello function). Usage: node plain_http.mjs PORT
import http from 'node:http';

http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const name = url.searchParams.get('name') || 'world';
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`Hello, ${name}!`);
  })
  .listen(Number(process.argv[2]), '127.0.0.1');
