import { describe, expect, it } from 'vitest';
import { run } from './cli.js';

// `tributary start --blobs s3://… --s3-endpoint …` given what a hurried operator types: a mistake in
// the endpoint is a usage error (exit 2) naming it, before anything starts — not a node that starts,
// asks the store, and fails with a BACKEND_ERROR blaming the S3 store. (More shapes, and bucket
// names, are checked on resolveS3BlobStoreOptions in packages/images/test/hostile-blobs.test.ts.)

const ENV = {
  AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  AWS_SECRET_ACCESS_KEY: 'not-a-real-secret',
  TRIBUTARY_BLOBS: '',
  TRIBUTARY_S3_ENDPOINT: '',
};

describe('tributary start --blobs s3://… with a bad bucket or endpoint', () => {
  it.each([
    ['a port past 65535', 's3://tributary-test/x', 'http://127.0.0.1:99999', /endpoint/],
    ['user info (printed at start and in errors)', 's3://tributary-test/x', 'http://minio:hunter2hunter2@127.0.0.1:9000', /endpoint/],
  ])('%s is a usage error', async (_what, blobs, endpoint, names) => {
    const r = await run(['start', '--insecure', '--port', '0', '--blobs', blobs, '--s3-endpoint', endpoint], ENV);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(names);
    expect(r.stderr).not.toMatch(/BACKEND_ERROR/);
    expect(r.stderr).not.toContain('hunter2');
  });
});
