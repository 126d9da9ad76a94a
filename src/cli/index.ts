export {
  buildProgram,
  runCli,
  CliExit,
  fallbackEndpoint,
  parseSince,
  type CliDeps,
  type UpOptions,
  type Writer,
} from './program.js';
