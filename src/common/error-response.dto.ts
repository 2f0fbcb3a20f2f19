import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ErrorBody } from './http-exception.filter';

/** Every error answer (HttpExceptionFilter): the status, its name, what to fix. */
export class ErrorResponseDto implements ErrorBody {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({
    description: 'What is wrong and what to send instead; never a stack trace or SQL',
    example: 'end_time must be after start_time',
  })
  message: string;

  @ApiPropertyOptional({
    description: 'The request field at fault, when there is one',
    example: 'end_time',
  })
  field?: string;
}
