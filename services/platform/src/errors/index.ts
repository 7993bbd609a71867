export { HttpProblem, type ProblemDocument, problemType } from './problem.ts'
