/**
 * Piscina worker that trains urban learners for `bench accuracy --dataset oscd --train`: the city samples come
 * once per worker in `workerData`; a task names the city left out (−1: none) and gets the trained learner and its
 * inner-CV threshold back. Pure training code (src/change/urban-training.ts) on a worker thread.
 */
import { workerData } from 'piscina';
import { trainUrbanLearner, type CitySample, type LearnerOptions } from '../change/urban-training.js';

export interface UrbanTrainTask {
  /** Index of the city left out, or −1 to train on all. */
  exclude: number;
  options: Omit<LearnerOptions, 'onTree'>;
}

export default function handle(task: UrbanTrainTask): ReturnType<typeof trainUrbanLearner> {
  const samples = (workerData as { samples: CitySample[] }).samples;
  return trainUrbanLearner(samples.filter((_, k) => k !== task.exclude), task.options);
}
