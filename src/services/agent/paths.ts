/**
 * Where the agent keeps things, relative to its work dir (checkpoints) or absolute (sandboxes).
 * Pure string work: ids are validated before they become path segments.
 */

/** Mesos' id rules: non-empty, at most 255 characters, no '/', no control characters, not '.' or '..'. */
export function validId(id: unknown): id is string {
  return (
    typeof id === 'string' &&
    id.length > 0 &&
    id.length <= 255 &&
    id !== '.' &&
    id !== '..' &&
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    !/[\u0000-\u001f\u007f/\\]/.test(id)
  );
}

export const META = 'meta';
export const AGENT_FILE = `${META}/agent.json`;
export const FRAMEWORKS_DIR = `${META}/frameworks`;

export const frameworkDir = (fw: string): string => `${FRAMEWORKS_DIR}/${fw}`;
export const frameworkFile = (fw: string): string => `${frameworkDir(fw)}/framework.json`;
export const tasksDir = (fw: string): string => `${frameworkDir(fw)}/tasks`;
export const taskDir = (fw: string, task: string): string => `${tasksDir(fw)}/${task}`;
export const taskFile = (fw: string, task: string): string => `${taskDir(fw, task)}/task.json`;
export const updatesFile = (fw: string, task: string): string => `${taskDir(fw, task)}/updates`;
export const killedFile = (fw: string, task: string): string => `${taskDir(fw, task)}/killed`;

/** `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/<container>`, as Mesos lays it out. */
export function sandboxPath(workDir: string, agentId: string, fw: string, executor: string, container: string): string {
  const root = workDir.endsWith('/') ? workDir.slice(0, -1) : workDir;
  return `${root}/slaves/${agentId}/frameworks/${fw}/executors/${executor}/runs/${container}`;
}
