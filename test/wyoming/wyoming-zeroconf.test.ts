import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { Bonjour, type Service } from 'bonjour-service';
import { startWithWyoming, type WyomingServices } from './wyoming-services.js';

/** Resolves with the first `_wyoming._tcp` advert `match` accepts, or rejects after `ms`. */
function discover(bonjour: Bonjour, match: (s: Service) => boolean, ms: number): Promise<Service> {
  return new Promise((resolve, reject) => {
    const browser = bonjour.find({ type: 'wyoming', protocol: 'tcp' });
    const timer = setTimeout(() => {
      browser.stop();
      reject(new Error(`no matching _wyoming._tcp advert within ${ms} ms`));
    }, ms);
    browser.on('up', (service: Service) => {
      if (!match(service)) return;
      clearTimeout(timer);
      browser.stop();
      resolve(service);
    });
  });
}

describe('Wyoming over zeroconf (WYOMING_ZEROCONF=true, real mDNS on this host)', () => {
  let services: WyomingServices;
  const bonjour = new Bonjour();
  before(async () => {
    services = await startWithWyoming('tts', { WYOMING_ZEROCONF: 'true', LOG_LEVEL: 'info' });
  });
  after(async () => {
    await services?.server.stop();
    bonjour.destroy();
  });

  test('advertises _wyoming._tcp with the listening port, as Home Assistant browses for it', async () => {
    const port = services.port('tts');
    const advert = await discover(bonjour, (s) => s.port === port, 10_000);
    assert.equal(advert.name, `voice-stack-tts-${hostname()}`);
    assert.equal(advert.type, 'wyoming');
    assert.equal(advert.protocol, 'tcp');
    // The log line and the network announcement race each other.
    await services.server.waitFor(
      () => services.server.logs.some((l) => l.event === 'wyoming_zeroconf_published' && l.port === port),
      5_000,
      'the publication to be logged',
    );
  });
});
