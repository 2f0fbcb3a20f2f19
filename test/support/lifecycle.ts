import type { INestApplicationContext } from '@nestjs/common';
import { AdvisoryLock } from '../../src/database/advisory-lock';
import { DatabaseConnection } from '../../src/database/database-connection';
import { LifecycleScheduler, MaintenanceReport } from '../../src/lifecycle/lifecycle.scheduler';
import { LifecycleTask } from '../../src/lifecycle/lifecycle-task';

/** What the one task of `report` did; throws when it did not run to the end. */
export function resultOf(report: MaintenanceReport): Record<string, any> {
  const [task] = report.tasks;
  if (task?.status !== 'done' || !task.result) {
    throw new Error(`task ${task?.name} ${task?.status}: ${task?.reason}`);
  }
  return task.result;
}

/** Runs the app's task `name` at `now` through its scheduler (under the task's lock). */
export async function runAppTask(
  app: INestApplicationContext,
  name: string,
  now = new Date(),
): Promise<Record<string, any>> {
  return resultOf(await app.get(LifecycleScheduler, { strict: false }).runNow(now, name));
}

/** Runs `task` at `now` as a scheduler on `db` does: under its lock, on the lock's session. */
export async function runTask(
  db: DatabaseConnection,
  task: LifecycleTask,
  now = new Date(),
): Promise<Record<string, any>> {
  const scheduler = new LifecycleScheduler(new AdvisoryLock(db));
  scheduler.register(task, 0);
  return resultOf(await scheduler.runNow(now, task.name));
}
