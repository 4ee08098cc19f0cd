/**
 * The gateway's metrics, under the Go gateway's names so existing dashboards keep
 * working, written in the Prometheus text format (0.0.4) by hand: four small classes do
 * not justify a dependency.
 */

type Labels = Record<string, string>;

interface Metric {
  render(): string[];
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function head(name: string, help: string, type: string): string[] {
  return [`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`];
}

/** A counter or gauge, optionally split by labels. */
class Series implements Metric {
  readonly #values = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.#values.set(key, (this.#values.get(key) ?? 0) + by);
  }

  dec(labels: Labels = {}): void {
    this.inc(labels, -1);
  }

  set(value: number, labels: Labels = {}): void {
    this.#values.set(labelText(labels), value);
  }

  value(labels: Labels = {}): number {
    return this.#values.get(labelText(labels)) ?? 0;
  }

  render(): string[] {
    const lines = head(this.name, this.help, this.type);
    if (this.#values.size === 0) lines.push(`${this.name} 0`);
    for (const [labels, value] of this.#values) lines.push(`${this.name}${labels} ${value}`);
    return lines;
  }
}

/** A gauge read from its source when scraped, so it is never stale. */
class SampledGauge implements Metric {
  #sample: () => number = () => 0;

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Where the value comes from. */
  from(sample: () => number): void {
    this.#sample = sample;
  }

  value(): number {
    return this.#sample();
  }

  render(): string[] {
    return [...head(this.name, this.help, 'gauge'), `${this.name} ${this.#sample()}`];
  }
}

class Histogram implements Metric {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {
    this.#counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    this.#sum += value;
    this.#count += 1;
    this.buckets.forEach((bound, i) => {
      if (value <= bound) this.#counts[i]! += 1;
    });
  }

  render(): string[] {
    const lines = head(this.name, this.help, 'histogram');
    this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket{le="${bound}"} ${this.#counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`, `${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines;
  }
}

export class GatewayMetrics {
  readonly #all: Metric[] = [];
  readonly totalConnections = this.#series('receptor_controller_websocket_total_connection_count', 'Websocket connections accepted', 'counter');
  readonly activeConnections = this.#series('receptor_controller_websocket_active_connection_count', 'Websocket connections open now', 'gauge');
  readonly messagesSent = this.#series('receptor_controller_websocket_total_messages_sent_count', 'Receptor messages written to nodes', 'counter');
  readonly messagesReceived = this.#series('receptor_controller_websocket_total_messages_received_count', 'Receptor messages read from nodes', 'counter');
  readonly duplicateConnections = this.#series(
    'receptor_controller_duplicate_connection_count',
    'Sessions replaced by a newer session of the same (account, node id)',
    'counter',
  );
  readonly directives = this.#series('receptor_controller_message_directive_count', 'Directives sent, by directive', 'counter');
  readonly responsesHandled = this.#series('receptor_controller_response_message_handled_count', 'Replies handed to a waiting ping or to the responses log', 'counter');
  readonly responsesWithoutHandler = this.#series(
    'receptor_controller_response_message_without_handler_count',
    'Routed messages from nodes that were dropped (not a reply to this gateway)',
    'counter',
  );
  readonly responsesLogged = this.#series('receptor_controller_responses_log_write_success_count', 'Replies durably written to the responses log', 'counter');
  readonly responsesLogFailures = this.#series('receptor_controller_responses_log_write_failure_count', 'Replies the responses log failed to write', 'counter');
  readonly responsesStreamPublished = this.#series(
    'receptor_controller_responses_stream_publish_success_count',
    'Replies JetStream acknowledged on the responses stream',
    'counter',
  );
  readonly responsesStreamDuplicates = this.#series(
    'receptor_controller_responses_stream_publish_duplicate_count',
    'Replies published again after a lost acknowledgement, which JetStream dropped as duplicates',
    'counter',
  );
  readonly responsesStreamFailures = this.#series(
    'receptor_controller_responses_stream_publish_failure_count',
    'Publishes to the responses stream that failed and will be retried',
    'counter',
  );
  readonly responsesPruned = this.#series('receptor_controller_responses_log_pruned_count', 'Records the responses log deleted for its retention limits', 'counter');
  readonly responsesLogRecords = this.#sampled(
    'receptor_controller_responses_log_records',
    'Records in the responses log (the span of seqs kept, so a failed write counts too)',
  );
  readonly responsesRetentionHeld = this.#series(
    'receptor_controller_responses_log_retention_held_count',
    'Records past the retention limits that are kept because JetStream does not have them yet (as a span of seqs)',
    'gauge',
  );
  readonly busJobs = this.#series('receptor_controller_jobs_subject_message_count', 'Jobs taken from the jobs subject, by the status they were answered with', 'counter');
  readonly protocolErrors = this.#series('receptor_controller_protocol_error_count', 'Sessions closed for bytes that are not the receptor protocol', 'counter');
  readonly forwarded = this.#series('receptor_controller_forwarded_request_count', 'Requests forwarded to the gateway instance holding the node', 'counter');
  readonly payloadSizes = this.#histogram('receptor_controller_payload_message_sizes', 'Size in bytes of receptor messages read from nodes', [
    128, 256, 512, 1024, 4096, 16384, 65536, 262144, 1048576,
  ]);
  // Go's name, typo included ("contoller"): dashboards built on the Go gateway query it.
  readonly httpStatus = this.#series('receptor_contoller_http_status_code_counter', 'HTTP responses by status code', 'counter');

  /** The exposition text for `/metrics`. */
  render(): string {
    return `${this.#all.flatMap((m) => m.render()).join('\n')}\n`;
  }

  #series(name: string, help: string, type: 'counter' | 'gauge'): Series {
    const series = new Series(name, help, type);
    this.#all.push(series);
    return series;
  }

  #sampled(name: string, help: string): SampledGauge {
    const gauge = new SampledGauge(name, help);
    this.#all.push(gauge);
    return gauge;
  }

  #histogram(name: string, help: string, buckets: number[]): Histogram {
    const histogram = new Histogram(name, help, buckets);
    this.#all.push(histogram);
    return histogram;
  }
}
