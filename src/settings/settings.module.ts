import { DynamicModule, Global, Module } from '@nestjs/common';
import { SETTINGS, Settings } from './settings';

/** Provides the settings validated in main.ts (or a test's own) to every module. */
@Global()
@Module({})
export class SettingsModule {
  static forRoot(settings: Settings): DynamicModule {
    return {
      module: SettingsModule,
      providers: [{ provide: SETTINGS, useValue: settings }],
      exports: [SETTINGS],
    };
  }
}
