/**
 * Piscina worker that trains urban learners for `bench accuracy --dataset oscd --train`: the city samples come
 * once per worker in `workerData`; a task names the city left out (−1: none) and gets the trained learner and its
 * inner-CV threshold back. Pure training code (src/change/urban-training.ts) on a worker thread.
 */
import type { MessagePort } from 'node:worker_threads';
import { workerData } from 'piscina';
import { trainUrbanLearner, type CitySample, type LearnerOptions } from '../change/urban-training.js';

export interface UrbanTrainTask {
  /** Index of the city left out, or −1 to train on all. */
  exclude: number;
  options: Omit<LearnerOptions, 'onTree'>;
  /** Receives the number of trees grown so far (for the progress bar), every 5 trees. */
  progress?: MessagePort;
}

export default function handle(task: UrbanTrainTask): ReturnType<typeof trainUrbanLearner> {
  const samples = (workerData as { samples: CitySample[] }).samples;
  try {
    return trainUrbanLearner(samples.filter((_, k) => k !== task.exclude), {
      ...task.options, onTree: (done) => { if (done % 5 === 0) task.progress?.postMessage(done); },
    });
  } finally {
    task.progress?.close();
  }
}
