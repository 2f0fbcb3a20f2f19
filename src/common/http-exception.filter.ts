import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { DomainError, DomainErrorCode } from './errors';

const STATUS_BY_CODE: Readonly<Record<DomainErrorCode, number>> = {
  INVALID_REQUEST: HttpStatus.BAD_REQUEST,
  NOT_FOUND: HttpStatus.NOT_FOUND,
  PAYLOAD_TOO_LARGE: HttpStatus.PAYLOAD_TOO_LARGE,
  DATABASE_UNAVAILABLE: HttpStatus.SERVICE_UNAVAILABLE,
};

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_S = 5;

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  field?: string;
}

/**
 * The one place errors become HTTP answers: `{statusCode, error, message}`
 * (plus `field` when one is at fault). Anything unexpected is a 500 with a
 * reference to the log line; no stack or SQL ever reaches the client.
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { body, retryAfter } = this.toBody(exception);
    if (retryAfter) void reply.header('retry-after', String(retryAfter));
    void reply.status(body.statusCode).send(body);
  }

  toBody(exception: unknown): { body: ErrorBody; retryAfter?: number } {
    if (exception instanceof DomainError) {
      const statusCode = STATUS_BY_CODE[exception.code];
      const body: ErrorBody = {
        statusCode,
        error: STATUS_CODES[statusCode] ?? 'Error',
        message: exception.message,
      };
      if (exception.field) body.field = exception.field;
      if (exception.code === 'DATABASE_UNAVAILABLE') {
        this.logger.warn(
          `database unavailable: ${describe((exception as { cause?: unknown }).cause)}`,
        );
        return { body, retryAfter: RETRY_AFTER_S };
      }
      return { body };
    }
    const status = httpStatusOf(exception);
    // A deliberate HttpException keeps its status, 5xx included; other errors carrying
    // a statusCode (Fastify's parser errors) are trusted below 500 only.
    if (status !== undefined && (status < 500 || exception instanceof HttpException)) {
      return {
        body: {
          statusCode: status,
          error: STATUS_CODES[status] ?? 'Error',
          message: clientMessage(exception, status),
        },
      };
    }
    const reference = randomUUID();
    this.logger.error(
      `unexpected error ${reference}`,
      exception instanceof Error ? exception.stack : String(exception),
    );
    return {
      body: {
        statusCode: 500,
        error: 'Internal Server Error',
        message: `Internal error; reference ${reference}`,
      },
    };
  }
}

/** Nest's HttpException and Fastify's own errors (bad JSON, body too large, wrong media type). */
function httpStatusOf(exception: unknown): number | undefined {
  if (exception instanceof HttpException) return exception.getStatus();
  const status = (exception as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : undefined;
}

/** `curl -d` sends application/x-www-form-urlencoded unless told otherwise. */
const UNSUPPORTED_MEDIA_TYPE =
  "content-type must be application/json: send the body as JSON with the header content-type: application/json (curl: -H 'content-type: application/json')";

function clientMessage(exception: unknown, status: number): string {
  if (status === 415) return UNSUPPORTED_MEDIA_TYPE;
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    const message =
      typeof response === 'string' ? response : (response as { message?: unknown }).message;
    if (Array.isArray(message)) return message.join('; ');
    return typeof message === 'string' ? message : exception.message;
  }
  if (status === 413) return 'Request body is too large';
  const message = (exception as Error).message ?? '';
  // Fastify's parser errors are safe to show; keep them short.
  return message.slice(0, 300) || (STATUS_CODES[status] ?? 'Error');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
