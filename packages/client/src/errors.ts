import { channelProblem, ErrorCodes, TributaryError } from '@tributary/protocol/wire';

/** The error every call gets once the client is closed. */
export function closedError(channel?: string): TributaryError {
  return new TributaryError(ErrorCodes.CLOSED, 'the client is closed', channel === undefined ? undefined : { channel });
}

/** A publish whose `data` exceeds the broker's limit, refused before it is sent. */
export function tooLarge(channel: string, bytes: number, limit: number): TributaryError {
  return new TributaryError(ErrorCodes.PAYLOAD_TOO_LARGE, `data is ${bytes} bytes; the limit is ${limit}`, { channel });
}

/** The same checks the broker makes, so a bad name fails at once with the code the broker would send. */
export function checkChannel(channel: string, allowPattern: boolean): TributaryError | undefined {
  const problem = channelProblem(channel, allowPattern);
  return problem === undefined ? undefined : new TributaryError(ErrorCodes.INVALID_CHANNEL, `channel ${problem}`, { channel });
}

/** A connect failure due to the credentials or the limits that come with them. */
export function isCredentialFailure(err: TributaryError): boolean {
  return err.code === ErrorCodes.UNAUTHORIZED || err.code === ErrorCodes.TOKEN_EXPIRED || err.code === ErrorCodes.LIMIT_EXCEEDED;
}
