import { rubricCritique } from './rubric-critic.js';
import type { Brand, Critique } from './types.js';

/**
 * Workflow 1 step 3: a quick rule-based assessment of the user's prompt, before any agent runs.
 * A prompt that already scores at or above the skip threshold (default 75) is returned as is.
 * It is the rubric critic, whatever the backend, so the skip decision costs nothing.
 */
export const DEFAULT_SKIP_THRESHOLD = 75;

export interface InitialAssessment extends Critique {
  method: 'rule-based';
}

export function assessPrompt(prompt: string, brand?: Brand | null): InitialAssessment {
  return { ...rubricCritique(prompt, { brand }), method: 'rule-based' };
}
