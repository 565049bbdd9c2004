import { TributaryClient, type Message } from '@tributary/client';

/** The channel blocks/temperature-alert publishes to. */
export const ALERT_CHANNEL = 'alerts.temperature';

/** What blocks/temperature-alert publishes. */
export type TemperatureAlert = { device: string; celsius: number; threshold: number; time: number };

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  url: string;
  /** A token with subscribe on `alerts.temperature`; none for an insecure broker. */
  token?: string;
  /** Called for each alert. @defaultValue prints one line */
  onAlert?: (alert: TemperatureAlert, msg: Message<TemperatureAlert>) => void;
}

/** A running dashboard. */
export interface Dashboard {
  client: TributaryClient;
  /** Every alert received, in order. */
  alerts: TemperatureAlert[];
  close(): Promise<void>;
}

/** The line the dashboard prints for an alert. */
export function formatAlert(a: TemperatureAlert): string {
  return `ALERT ${new Date(a.time).toISOString()} ${a.device}: average ${a.celsius} °C is above ${a.threshold} °C`;
}

/**
 * Subscribes to the alerts channel. It is an exact channel, so after a reconnect the client resumes
 * from the last alert seen: an alert raised while the dashboard was offline is still shown.
 */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const client = new TributaryClient({ url: o.url, ...(o.token === undefined ? {} : { token: o.token }) });
  const alerts: TemperatureAlert[] = [];
  const onAlert = o.onAlert ?? ((a: TemperatureAlert) => console.log(formatAlert(a)));
  try {
    await client.connect();
    await client.subscribe<TemperatureAlert>(ALERT_CHANNEL, (msg) => {
      alerts.push(msg.data);
      onAlert(msg.data, msg);
    });
  } catch (err) {
    await client.close();
    throw err;
  }
  return { client, alerts, close: () => client.close() };
}
