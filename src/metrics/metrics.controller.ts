import { Controller, Get, Res } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { FastifyReply } from 'fastify';
import { AggregatorRegistry, register } from 'prom-client';
import { eventWorkers } from '../workers/event-workers';

/** `/metrics`: this process's metrics, and each event worker's beside them when EVENT_WORKERS > 1. */
@Controller()
export class MetricsController extends PrometheusController {
  @Get()
  override async index(@Res({ passthrough: true }) response: FastifyReply): Promise<string> {
    const workers = eventWorkers();
    if (!workers) return super.index(response);
    const all = await workers.metrics(await register.getMetricsAsJSON());
    void response.header('Content-Type', register.contentType);
    // Series of different processes differ by their worker label: aggregate only merges them.
    return AggregatorRegistry.aggregate(all).metrics();
  }
}
