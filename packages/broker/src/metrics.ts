import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The broker's Prometheus metrics. Labels are bounded: no label per channel or client by default
 * (channels are unbounded user input), only small fixed sets (transport, code, engine op).
 */
export class BrokerMetrics {
  readonly registry: Registry;
  readonly connections: Gauge;
  readonly messagesIn: Counter<'transport'>;
  readonly messagesOut: Counter;
  readonly fanoutLatency: Histogram;
  readonly slowConsumers: Counter;
  readonly errors: Counter<'code'>;
  readonly engineLatency: Histogram<'op'>;
  readonly internalErrors: Counter<'where'>;
  readonly deadPeers: Counter<'reason'>;

  constructor(registry: Registry = new Registry(), onCollect?: () => { connections: number; deliveries: number }) {
    this.registry = registry;
    let lastDeliveries = 0;
    this.connections = new Gauge({
      name: 'tributary_connections',
      help: 'Open WebSocket connections on this node',
      registers: [registry],
      collect() {
        if (onCollect !== undefined) this.set(onCollect().connections);
      },
    });
    this.messagesIn = new Counter({
      name: 'tributary_messages_published_total',
      help: 'Messages stored through this node, by transport (ws, http, block)',
      labelNames: ['transport'],
      registers: [registry],
    });
    this.messagesOut = new Counter({
      name: 'tributary_messages_delivered_total',
      help: 'Message frames written to subscriber sockets on this node',
      registers: [registry],
      collect() {
        if (onCollect === undefined) return;
        const d = onCollect().deliveries;
        this.inc(d - lastDeliveries);
        lastDeliveries = d;
      },
    });
    this.fanoutLatency = new Histogram({
      name: 'tributary_fanout_latency_seconds',
      help: 'Time from a message being stored to its frame being written to local subscribers',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    });
    this.slowConsumers = new Counter({
      name: 'tributary_slow_consumer_disconnects_total',
      help: 'Clients closed (4008) because their outgoing queue overflowed',
      registers: [registry],
    });
    this.errors = new Counter({
      name: 'tributary_request_errors_total',
      help: 'Requests answered with an error, by error code',
      labelNames: ['code'],
      registers: [registry],
    });
    this.internalErrors = new Counter({
      name: 'tributary_internal_errors_total',
      help: 'Unexpected failures contained to one request or connection (each is logged), by where they happened',
      labelNames: ['where'],
      registers: [registry],
    });
    this.deadPeers = new Counter({
      name: 'tributary_dead_peer_disconnects_total',
      help: 'Connections cut because the peer stopped answering pings or stalled mid-frame, by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.engineLatency = new Histogram({
      name: 'tributary_engine_latency_seconds',
      help: 'Storage engine round trips (Redis or memory), by operation',
      labelNames: ['op'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
      registers: [registry],
    });
  }
}
