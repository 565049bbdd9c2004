/**
 * Block sources the console tests deploy. Both are the same block, `flaky`: version 1 always throws
 * (so its messages end in `$dlq.flaky`), version 2 succeeds — deploying it and replaying a dead
 * letter is the operator's fix-and-replay flow.
 */
export const FAILING_BLOCK = `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'flaky',
  trigger: { afterPublish: 'orders.*' },
  async handle(msg) {
    throw new Error('inventory service down for ' + msg.channel);
  },
});
`;

export const FIXED_BLOCK = `import { defineBlock } from '@tributary/block';
export default defineBlock({
  name: 'flaky',
  trigger: { afterPublish: 'orders.*' },
  publishes: ['orders-done.>'],
  async handle(msg, ctx) {
    ctx.log.info('handled', { channel: msg.channel, offset: msg.offset });
    await ctx.publish('orders-done.' + msg.channel.split('.')[1], { from: msg.channel, offset: msg.offset });
  },
});
`;
