import { ArgumentsHost, Catch, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';

/**
 * Event handlers hand their errors to the transport unchanged: the
 * transport decides (retry, dead letter) from the error itself. Without it
 * the global HTTP filter would take the error and answer a reply that an
 * event does not have.
 */
@Catch()
export class PassThroughRpcFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
