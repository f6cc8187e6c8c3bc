using Hyperlxd.Core;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Hyperlxd.State;

/// <summary>
/// The one way to reach PostgreSQL. Every unit of work runs through a Polly pipeline: a timeout
/// bounds the whole unit (all attempts), and inside it transient faults
/// (<see cref="NpgsqlException.IsTransient"/>: a restarting server, a dropped socket) are retried
/// with backoff, clearing the pool so that dead connections are not reused. A server that does not
/// answer within the timeout (stalled, stopped) or a fault that outlasts it surfaces as
/// <see cref="TransientException"/> "database unavailable: …" (HTTP 503), and the pool is cleared
/// so that the next request, once the server is back, starts on fresh connections.
/// </summary>
public sealed class Database : IAsyncDisposable
{
    /// <summary>How long one unit of work may take by default, retries included.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private readonly NpgsqlDataSource _source;
    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;

    public Database(string connectionString, ILogger logger, TimeSpan? timeout = null)
    {
        _logger = logger;
        Timeout = timeout ?? DefaultTimeout;
        // The slim builder keeps only the type handlers we use (text, jsonb as text, scalars): it is trimming- and AOT-safe.
        var builder = new NpgsqlSlimDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            // The same few statements run on every request: prepared once per connection, PostgreSQL
            // skips parsing and planning them (measured: a third of an instance lookup's round trip).
            builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        }
        // Npgsql's own limits as a backstop under the pipeline's: no single connect or statement
        // outlives the unit's budget (Npgsql counts whole seconds).
        var seconds = Math.Max(1, (int)Math.Ceiling(Timeout.TotalSeconds));
        builder.ConnectionStringBuilder.CommandTimeout = Math.Min(builder.ConnectionStringBuilder.CommandTimeout, seconds);
        builder.ConnectionStringBuilder.Timeout = Math.Min(builder.ConnectionStringBuilder.Timeout, seconds);
        _source = builder.Build();
        _pipeline = new ResiliencePipelineBuilder()
            .AddTimeout(Timeout)
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<NpgsqlException>(e => e.IsTransient)
                    .Handle<TimeoutException>(),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(50),
                MaxDelay = TimeSpan.FromSeconds(2),
                MaxRetryAttempts = int.MaxValue, // the timeout above ends the attempts
                OnRetry = args =>
                {
                    _source.Clear();
                    logger.LogWarning("Database fault, retry {Attempt}: {Error}", args.AttemptNumber + 1, args.Outcome.Exception?.Message);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

    /// <summary>The budget of one unit of work (<c>database.timeout</c> in daemon.yaml).</summary>
    public TimeSpan Timeout { get; }

    public string ConnectionString => _source.ConnectionString;

    /// <summary>Runs <paramref name="work"/> on a fresh connection, retried as a whole on transient faults.</summary>
    public async Task<T> RunAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken ct)
    {
        try
        {
            return await _pipeline.ExecuteAsync(async token =>
            {
                await using var conn = await _source.OpenConnectionAsync(token);
                return await work(conn, token);
            }, ct);
        }
        catch (TimeoutRejectedException e)
        {
            throw Unavailable($"no answer within {Timeout.TotalSeconds:0.#} s", e);
        }
        catch (Exception e) when (e is NpgsqlException { IsTransient: true } or TimeoutException)
        {
            throw Unavailable(e.Message, e);
        }
    }

    private TransientException Unavailable(string reason, Exception e)
    {
        // Connections that saw the fault may be half-broken: the next request starts afresh.
        _source.Clear();
        _logger.LogError("Database unavailable: {Reason}", reason);
        return new TransientException("database unavailable: " + reason, e);
    }

    /// <summary>Like <see cref="RunAsync{T}"/> inside one transaction: all of it is written or none.</summary>
    public Task<T> TransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task<T>> work, CancellationToken ct) =>
        RunAsync(async (conn, token) =>
        {
            await using var tx = await conn.BeginTransactionAsync(token);
            var result = await work(conn, tx, token);
            await tx.CommitAsync(token);
            return result;
        }, ct);

    public Task TransactionAsync(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task> work, CancellationToken ct) =>
        TransactionAsync<bool>(async (c, t, token) => { await work(c, t, token); return true; }, ct);

    public ValueTask DisposeAsync() => _source.DisposeAsync();
}

internal static class NpgsqlExtensions
{
    public static NpgsqlCommand Command(this NpgsqlConnection conn, string sql, NpgsqlTransaction? tx, params object[] args)
    {
        var cmd = new NpgsqlCommand(sql, conn, tx);
        foreach (var a in args)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = a });
        }
        return cmd;
    }

    public static bool IsUniqueViolation(this PostgresException e) => e.SqlState == PostgresErrorCodes.UniqueViolation;
}
