import {
  ArgumentsHost,
  BadRequestException,
  ForbiddenException,
  HttpException,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import {
  DatabaseUnavailableError,
  DomainError,
  InvalidRequestError,
  NotFoundError,
  PayloadTooLargeError,
} from './errors';
import { ErrorBody, HttpExceptionFilter, RETRY_AFTER_S } from './http-exception.filter';

/** A Fastify-style error: a plain Error carrying statusCode and code. */
function fastifyError(statusCode: number, code: string, message: string): Error {
  return Object.assign(new Error(message), { statusCode, code });
}

function replyMock() {
  const reply = {
    header: jest.fn(),
    status: jest.fn(),
    send: jest.fn(),
  };
  reply.header.mockReturnValue(reply);
  reply.status.mockReturnValue(reply);
  reply.send.mockReturnValue(reply);
  return reply;
}

function hostFor(reply: ReturnType<typeof replyMock>): ArgumentsHost {
  return { switchToHttp: () => ({ getResponse: () => reply }) } as unknown as ArgumentsHost;
}

const REFERENCE = /^Internal error; reference ([0-9a-f-]{36})$/;

describe('HttpExceptionFilter', () => {
  let filter: HttpExceptionFilter;
  let loggedErrors: jest.SpyInstance;
  let loggedWarnings: jest.SpyInstance;

  beforeEach(() => {
    loggedErrors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    loggedWarnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    filter = new HttpExceptionFilter();
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe('toBody', () => {
    it('should keep the status of a deliberate 5xx HttpException', () => {
      const { body } = filter.toBody(new ServiceUnavailableException('draining'));

      expect(body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'draining' });
      expect(loggedErrors).not.toHaveBeenCalled();
    });

    it.each<[string, DomainError, ErrorBody]>([
      [
        'INVALID_REQUEST',
        new InvalidRequestError('timeframe', 'must be one of ONE_MINUTE, ONE_DAY'),
        {
          statusCode: 400,
          error: 'Bad Request',
          message: 'timeframe must be one of ONE_MINUTE, ONE_DAY',
          field: 'timeframe',
        },
      ],
      [
        'NOT_FOUND',
        new NotFoundError('No ONE_MINUTE data stored for AAPL'),
        { statusCode: 404, error: 'Not Found', message: 'No ONE_MINUTE data stored for AAPL' },
      ],
      [
        'PAYLOAD_TOO_LARGE',
        new PayloadTooLargeError('data_points holds 5 points; at most 3 per request'),
        {
          statusCode: 413,
          error: 'Payload Too Large',
          message: 'data_points holds 5 points; at most 3 per request',
        },
      ],
    ])('should answer %s with its status and message', (_code, exception, expected) => {
      expect(filter.toBody(exception)).toEqual({ body: expected });
    });

    it('should leave field out when no field is at fault', () => {
      expect(filter.toBody(new NotFoundError('gone')).body).not.toHaveProperty('field');
    });

    it('should answer DATABASE_UNAVAILABLE with 503 and a retry delay, hiding the cause', () => {
      const cause = new Error('connect ECONNREFUSED 10.0.0.5:5432');

      const answer = filter.toBody(new DatabaseUnavailableError(cause));

      expect(answer).toEqual({
        body: {
          statusCode: 503,
          error: 'Service Unavailable',
          message: 'The database is unavailable; retry shortly',
        },
        retryAfter: RETRY_AFTER_S,
      });
      expect(JSON.stringify(answer)).not.toContain('10.0.0.5');
      expect(loggedWarnings.mock.calls[0][0]).toContain('connect ECONNREFUSED 10.0.0.5:5432');
    });

    it.each<[string, HttpException, ErrorBody]>([
      [
        'BadRequestException',
        new BadRequestException('limit must be at most 100000'),
        { statusCode: 400, error: 'Bad Request', message: 'limit must be at most 100000' },
      ],
      [
        'BadRequestException with a list',
        new BadRequestException(['limit is bad', 'offset is bad']),
        { statusCode: 400, error: 'Bad Request', message: 'limit is bad; offset is bad' },
      ],
      [
        'NotFoundException',
        new NotFoundException('Cannot GET /api/v1/nothing'),
        { statusCode: 404, error: 'Not Found', message: 'Cannot GET /api/v1/nothing' },
      ],
      [
        'ForbiddenException without a message',
        new ForbiddenException(),
        { statusCode: 403, error: 'Forbidden', message: 'Forbidden' },
      ],
      [
        'HttpException with a string response',
        new HttpException('short and stout', 418),
        { statusCode: 418, error: "I'm a Teapot", message: 'short and stout' },
      ],
      [
        'HttpException with an object response without a message',
        new HttpException({ reason: 'x' }, 409),
        { statusCode: 409, error: 'Conflict', message: 'Http Exception' },
      ],
    ])('should pass %s through', (_name, exception, expected) => {
      expect(filter.toBody(exception)).toEqual({ body: expected });
    });

    it('should answer Fastify body-too-large with 413 and its own wording', () => {
      const error = fastifyError(413, 'FST_ERR_CTP_BODY_TOO_LARGE', 'Request body is too large');

      expect(filter.toBody(error)).toEqual({
        body: { statusCode: 413, error: 'Payload Too Large', message: 'Request body is too large' },
      });
    });

    it('should answer Fastify bad JSON with 400 and the parser message', () => {
      const error = fastifyError(
        400,
        'FST_ERR_CTP_INVALID_JSON_BODY',
        "Body is not valid JSON but content-type is set to 'application/json'",
      );

      expect(filter.toBody(error)).toEqual({
        body: {
          statusCode: 400,
          error: 'Bad Request',
          message: "Body is not valid JSON but content-type is set to 'application/json'",
        },
      });
    });

    it('should cut a long Fastify message to 300 characters', () => {
      const error = fastifyError(400, 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', 'x'.repeat(1000));

      const { body } = filter.toBody(error);

      expect(body.statusCode).toBe(400);
      expect(body.message).toHaveLength(300);
    });

    it('should tell a body of another media type to be sent as JSON, with the header to set', () => {
      const error = fastifyError(415, 'FST_ERR_CTP_INVALID_MEDIA_TYPE', 'Unsupported Media Type');

      expect(filter.toBody(error).body).toEqual({
        statusCode: 415,
        error: 'Unsupported Media Type',
        message:
          "content-type must be application/json: send the body as JSON with the header content-type: application/json (curl: -H 'content-type: application/json')",
      });
    });

    it('should fall back to the status text when a 4xx error has no message', () => {
      expect(filter.toBody(fastifyError(400, 'FST_ERR_X', '')).body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: 'Bad Request',
      });
    });

    it('should answer an unknown error with 500 and a reference, no stack and no SQL', () => {
      const error = new Error(
        'duplicate key value violates unique constraint "market_data_ts_pkey" in INSERT INTO market_data_ts',
      );

      const { body, retryAfter } = filter.toBody(error);

      expect(body).toEqual({
        statusCode: 500,
        error: 'Internal Server Error',
        message: expect.stringMatching(REFERENCE),
      });
      expect(retryAfter).toBeUndefined();
      const text = JSON.stringify(body);
      expect(text).not.toContain('INSERT');
      expect(text).not.toContain('market_data_ts');
      expect(text).not.toContain('at ');
      expect(body).not.toHaveProperty('field');
    });

    it('should log the stack under the same reference it answers', () => {
      const error = new Error('SELECT * FROM secrets');

      const { body } = filter.toBody(error);

      const reference = REFERENCE.exec(body.message)![1];
      expect(loggedErrors).toHaveBeenCalledWith(`unexpected error ${reference}`, error.stack);
    });

    it('should give each unknown error its own reference', () => {
      const first = filter.toBody(new Error('a')).body.message;
      const second = filter.toBody(new Error('a')).body.message;

      expect(first).not.toBe(second);
    });

    it.each([
      ['a string', 'plain failure'],
      ['null', null],
      ['undefined', undefined],
      ['an object with an out-of-range statusCode', { statusCode: 200, message: 'ok?' }],
      ['an object with a text statusCode', { statusCode: '400', message: 'query: SELECT 1' }],
      ['a Fastify 5xx error', fastifyError(500, 'FST_ERR_X', 'internal parser state')],
    ])('should answer %s as a 500 with a reference', (_name, exception) => {
      const { body } = filter.toBody(exception);

      expect(body.statusCode).toBe(500);
      expect(body.message).toMatch(REFERENCE);
    });
  });

  describe('catch', () => {
    it('should send the body with its status', () => {
      const reply = replyMock();

      filter.catch(new InvalidRequestError('fields', 'has unknown field "x"'), hostFor(reply));

      expect(reply.status).toHaveBeenCalledWith(400);
      expect(reply.send).toHaveBeenCalledWith({
        statusCode: 400,
        error: 'Bad Request',
        message: 'fields has unknown field "x"',
        field: 'fields',
      });
      expect(reply.header).not.toHaveBeenCalled();
    });

    it('should set retry-after on a 503', () => {
      const reply = replyMock();

      filter.catch(new DatabaseUnavailableError(), hostFor(reply));

      expect(reply.header).toHaveBeenCalledWith('retry-after', String(RETRY_AFTER_S));
      expect(reply.status).toHaveBeenCalledWith(503);
    });
  });
});
