using Hyperlxd.Core;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;
using Polly.Retry;

namespace Hyperlxd.State;

/// <summary>
/// The one way to reach PostgreSQL. Every unit of work runs through a Polly pipeline that retries
/// transient faults (<see cref="NpgsqlException.IsTransient"/>: a restarting server, a dropped
/// socket) with backoff for up to ~30 s, clearing the pool so that dead connections are not reused.
/// A fault that outlasts the retries surfaces as <see cref="TransientException"/> (HTTP 503).
/// </summary>
public sealed class Database : IAsyncDisposable
{
    private readonly NpgsqlDataSource _source;
    private readonly ResiliencePipeline _pipeline;

    public Database(string connectionString, ILogger logger)
    {
        // The slim builder keeps only the type handlers we use (text, jsonb as text, scalars): it is trimming- and AOT-safe.
        var builder = new NpgsqlSlimDataSourceBuilder(connectionString);
        if (builder.ConnectionStringBuilder.MaxAutoPrepare == 0)
        {
            // The same few statements run on every request: prepared once per connection, PostgreSQL
            // skips parsing and planning them (measured: a third of an instance lookup's round trip).
            builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        }
        _source = builder.Build();
        _pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<NpgsqlException>(e => e.IsTransient)
                    .Handle<TimeoutException>(),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(50),
                MaxDelay = TimeSpan.FromSeconds(2),
                MaxRetryAttempts = 25,
                OnRetry = args =>
                {
                    _source.Clear();
                    logger.LogWarning("Database fault, retry {Attempt}: {Error}", args.AttemptNumber + 1, args.Outcome.Exception?.Message);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
    }

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
        catch (NpgsqlException e) when (e.IsTransient)
        {
            throw new TransientException("The database is unavailable, try again", e);
        }
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
