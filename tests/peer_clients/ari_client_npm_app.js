// An application written with npm's ari-client 2.2.0 (installed by scripts/peer-clients, never a project
// dependency): it answers a call, plays a sound, and hangs up when the sound has finished. It prints what
// it saw. ari-client builds itself from Asterisk's description of ARI (/ari/api-docs/) before it connects.
'use strict';

// Its swagger-client logs a warning with console.log: stdout is for what the application saw.
const print = (line) => process.stdout.write(line + '\n');
console.log = console.error;
const ari = require('ari-client');

const [url, user, password] = process.argv.slice(2);
const seen = [];

async function main() {
  const client = await ari.connect(url, user, password);
  client.on('StasisStart', async (event, channel) => {
    seen.push(['StasisStart', channel.state, channel.caller.number]);
    await channel.answer();
    const playback = await channel.play({ media: 'sound:hello-world' });
    seen.push(['played', playback.media_uri]);
  });
  client.on('PlaybackFinished', async (event, playback) => {
    seen.push(['PlaybackFinished', playback.state]);
    await client.channels.hangup({ channelId: playback.target_uri.split(':')[1] });
  });
  client.on('StasisEnd', () => {
    seen.push(['StasisEnd']);
    print(JSON.stringify(seen));
    process.exit(0);
  });
  await client.start('router');
  print('connected');
  setTimeout(() => {
    console.error('no call within 30 s');
    process.exit(1);
  }, 30000);
}

main().catch((error) => {
  console.error(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
