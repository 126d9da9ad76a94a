// Configuration Kiln cannot honour yet is refused up front, never accepted and silently dropped.
import { invalidParameter } from '../model/index.js';
import type { CreateFunctionBody, UpdateConfigBody } from './requests.js';

export function refuseUnsupported(b: CreateFunctionBody | UpdateConfigBody): void {
  const no = (what: string, hint: string): never => {
    throw invalidParameter(`${what} is not supported by Kiln yet; ${hint}.`);
  };
  if ((b.VpcConfig?.SubnetIds?.length ?? 0) > 0 || (b.VpcConfig?.SecurityGroupIds?.length ?? 0) > 0) {
    no('VpcConfig', 'functions have no network access, so leave SubnetIds and SecurityGroupIds empty');
  }
  if (b.Layers && b.Layers.length > 0) no('Layers', 'bundle the files into the deployment package');
  if (b.KMSKeyArn) no('KMSKeyArn', 'omit it: environment variables are stored unencrypted in the data dir');
  if (b.FileSystemConfigs && b.FileSystemConfigs.length > 0) no('FileSystemConfigs', 'omit them');
  if (b.ImageConfig !== undefined) no('ImageConfig', 'it applies to container images only');
  if (b.TracingConfig?.Mode !== undefined && b.TracingConfig.Mode !== 'PassThrough') {
    no(`TracingConfig Mode ${b.TracingConfig.Mode}`, 'use PassThrough');
  }
  if (b.SnapStart?.ApplyOn !== undefined && b.SnapStart.ApplyOn !== 'None')
    no('SnapStart', 'set ApplyOn to None');
  const lc = b.LoggingConfig;
  if (
    lc &&
    ((lc.LogFormat ?? 'Text') !== 'Text' ||
      lc.LogGroup !== undefined ||
      lc.ApplicationLogLevel ||
      lc.SystemLogLevel)
  ) {
    no('LoggingConfig other than LogFormat Text', 'omit LoggingConfig');
  }
  if ('CodeSigningConfigArn' in b && b.CodeSigningConfigArn) no('CodeSigningConfigArn', 'omit it');
  if ('Architectures' in b && b.Architectures?.some((a) => a !== 'x86_64')) {
    no(`Architectures ${b.Architectures.join(',')}`, 'Kiln runs x86_64 functions only');
  }
}
