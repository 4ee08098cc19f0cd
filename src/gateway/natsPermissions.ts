/**
 * What a receptor gateway's NATS login must be allowed, and nothing besides: the subjects
 * of the code in this folder and the JetStream API calls nats.js makes for it. `bosun
 * nats-config --gateway` grants these to the nodes that run a gateway; they sit here,
 * next to the code that uses them, so the two cannot drift apart. The JetStream API
 * subjects are those nats.js 2.29 uses with nats-server 2.9 or later.
 */
import type { GatewayNames } from './config.ts';
import { JOBS_CONSUMER } from './jetstream.ts';
import { SUBJECT_PREFIX } from './natsLink.ts';
import { REGISTRY_BUCKET } from './natsRegistry.ts';

export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
}

const API = '$JS.API';

/** Looks a stream up, and creates it when missing (never updates, purges or deletes it). */
function streamSetup(stream: string): string[] {
  return [`${API}.STREAM.INFO.${stream}`, `${API}.STREAM.CREATE.${stream}`];
}

export function gatewayNatsPermissions(names: GatewayNames): NatsPermissions {
  const { responsesSubject, responsesStream, jobsSubject, jobsStream } = names;
  const kvStream = `KV_${REGISTRY_BUCKET}`;
  const publish = [
    // Forwarding between instances: requests to the others; answers go to their inboxes.
    `${SUBJECT_PREFIX}.>`,
    // Answers to forwarded requests and to jobs (a request's reply subject or a Reply-To inbox).
    '_INBOX.>',
    // Whether the server runs JetStream.
    `${API}.INFO`,
    // The responses stream.
    ...streamSetup(responsesStream),
    responsesSubject,
    // The jobs stream, pulled through the shared durable consumer.
    ...streamSetup(jobsStream),
    `${API}.CONSUMER.INFO.${jobsStream}.${JOBS_CONSUMER}`,
    `${API}.CONSUMER.CREATE.${jobsStream}.${JOBS_CONSUMER}`,
    `${API}.CONSUMER.MSG.NEXT.${jobsStream}.${JOBS_CONSUMER}`,
    `$JS.ACK.${jobsStream}.${JOBS_CONSUMER}.>`,
    // The connection registry: a KV bucket, read by direct get, listed through an ordered
    // consumer, which a large bucket makes ask for flow control.
    ...streamSetup(kvStream),
    `$KV.${REGISTRY_BUCKET}.>`,
    `${API}.DIRECT.GET.${kvStream}.>`,
    `${API}.CONSUMER.CREATE.${kvStream}`,
    `$JS.FC.${kvStream}.>`,
  ];
  // Answers to its own requests (forwarding, the JetStream API); forwarded requests to
  // this instance; jobs on a NATS without JetStream.
  const subscribe = ['_INBOX.>', `${SUBJECT_PREFIX}.>`, jobsSubject];
  return { publish, subscribe };
}
