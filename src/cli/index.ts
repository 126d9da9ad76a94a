export {
  buildProgram,
  runCli,
  CliExit,
  fallbackEndpoint,
  type CliDeps,
  type UpOptions,
  type Writer,
} from './program.js';
