// A reference hixie-76 (hybi-00) echo server on websocket-driver (Debian node-websocket-driver),
// an implementation independent of wsgate, for differential tests. Usage: node hixie76-echo.js PORT
'use strict';
const net = require('net');
const websocket = require('websocket-driver');

net.createServer((socket) => {
  const driver = websocket.server();
  driver.on('connect', () => {
    if (websocket.isWebSocket(driver)) driver.start();
    else socket.destroy();
  });
  driver.on('error', () => socket.destroy());
  socket.on('error', () => {});
  socket.pipe(driver.io).pipe(socket);
  driver.messages.on('data', (m) => driver.text(m));
}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('ready'));
