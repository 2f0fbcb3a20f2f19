import { Global, Module } from '@nestjs/common';
import { PrometheusModule } from '@willsoto/nestjs-prometheus';
import { HttpMetricsHook } from './http-metrics.hook';
import { MetricsController } from './metrics.controller';
import { METRIC_PROVIDERS, MetricsService } from './metrics.service';

/** `/metrics` in the Prometheus text format, with the default process metrics. */
@Global()
@Module({
  imports: [
    PrometheusModule.register({
      path: '/metrics',
      defaultMetrics: { enabled: true },
      controller: MetricsController,
    }),
  ],
  providers: [...METRIC_PROVIDERS, MetricsService, HttpMetricsHook],
  exports: [MetricsService],
})
export class MetricsModule {}
