/** One BullMQ queue per stage, named after the stage (src/workflow/stages.ts). */
import { STAGES, type Stage } from '../src/workflow/stages.js';

export const QUEUE_NAMES = STAGES;
export type QueueName = Stage;
export const isQueueName = (s: string): s is QueueName => (QUEUE_NAMES as readonly string[]).includes(s);
export { WORKFLOWS, WORKFLOW_STAGES, STAGE_DIRS, type Workflow } from '../src/workflow/stages.js';
